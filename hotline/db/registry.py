"""Every table of every business area, in one list: migrations and engine binding both need it."""

from piccolo.table import Table


def all_tables() -> list[type[Table]]:
    # Imported here, not at module level, so that the areas' tables are defined after PICCOLO_CONF is set.
    from hotline.tenancy.tables import Department, DialledNumber, Federation, Kommune, Topic

    return [Federation, Topic, Kommune, DialledNumber, Department]
