"""UI text of the federation screens (forecast, rota, settlement), Danish first."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "da": {
        "federation.nav": "Vagtplan",
        "federation.show": "Vis",
        "federation.save": "Gem",
        "federation.hour": "Time",
        "federation.kommune": "Kommune",
        "federation.holiday": "helligdag",
        "federation.previous_week": "Forrige uge",
        "federation.next_week": "Næste uge",
        "federation.weekday.0": "Mandag",
        "federation.weekday.1": "Tirsdag",
        "federation.weekday.2": "Onsdag",
        "federation.weekday.3": "Torsdag",
        "federation.weekday.4": "Fredag",
        "federation.weekday.5": "Lørdag",
        "federation.weekday.6": "Søndag",
        "federation.key.per_call": "Pr. opkald",
        "federation.key.per_minute": "Pr. håndteret minut",
        "federation.key.population": "Efter indbyggertal",
        "federation.key.mix": "Blandet (vægte)",
        "federation.forecast.title": "Bemandingsprognose",
        "federation.forecast.lead": (
            "Forventede opkald pr. time og det antal agenter, der skal på vagt, for at {target} % af opkaldene "
            "besvares inden for {threshold} sekunder (Erlang C)."
        ),
        "federation.forecast.weeks": "Vælg uge",
        "federation.forecast.from_day": "Fra dag",
        "federation.forecast.calls": "opkald",
        "federation.forecast.agents": "agenter på vagt",
        "federation.forecast.aht": "Gns. behandlingstid",
        "federation.forecast.summary": "I alt ca. {calls} opkald; højst {peak} agenter på vagt i samme time.",
        "federation.forecast.chart_desc": (
            "Søjler: forventede opkald pr. time (venstre akse). Linje: agenter på vagt (højre akse). "
            "Tallene står også i tabellen under diagrammet."
        ),
        "federation.forecast.table_caption": "Prognosen time for time",
        "federation.forecast.settings": "Servicemål og antagelser",
        "federation.forecast.method": (
            "Prognosen bygger på samme ugedag de seneste 8 uger, hvor de nyeste uger vægter mest. Helligdage "
            "holdes ude af historikken, og en helligdag forudsiges ud fra søndagene før den."
        ),
        "federation.forecast.target": "Servicemål (% besvaret inden for grænsen)",
        "federation.forecast.threshold": "Grænse (sekunder)",
        "federation.forecast.shrinkage": "Spild: pauser, oplæring, sygdom (%)",
        "federation.forecast.occupancy": "Højeste belægning (%)",
        "federation.forecast.json": "Hent prognosen som JSON",
        "federation.rota.title": "Vagtplan",
        "federation.rota.lead": (
            "Ugens vagter holdt op mod prognosen. Koordinatoren planlægger vagter, kommunerne giver tilsagn om "
            "timer, og agenterne melder sig på vagter."
        ),
        "federation.rota.weeks": "Vælg uge",
        "federation.rota.week_of": "Uge med dagen",
        "federation.rota.gaps": "{count} timer i ugen mangler agenter i forhold til prognosen.",
        "federation.rota.no_gaps": "Alle timer i ugen er dækket i forhold til prognosen.",
        "federation.rota.grid_caption": "Tilmeldte agenttimer mod behovet pr. time",
        "federation.rota.cell": "{signed} af {needed}",
        "federation.rota.missing": "mangler {count}",
        "federation.rota.underplanned": "for få vagter planlagt",
        "federation.rota.covered": "dækket",
        "federation.rota.none_needed": "intet behov",
        "federation.rota.legend": (
            "Hver celle viser tilmeldte agenttimer mod det antal agenter, prognosen kræver. Timer, der mangler "
            "agenter, er markeret med rødt og teksten »mangler«."
        ),
        "federation.rota.shifts": "Vagter",
        "federation.rota.signed_of": "{signed} af {wanted} agenter tilmeldt",
        "federation.rota.sign_up": "Meld mig på",
        "federation.rota.withdraw": "Meld mig fra",
        "federation.rota.full": "fuld",
        "federation.rota.delete": "Slet vagt",
        "federation.rota.no_shifts": "Ingen vagter planlagt i denne uge.",
        "federation.rota.plan": "Planlæg en vagt",
        "federation.rota.bulk": "Planlæg mange vagter",
        "federation.rota.date": "Dato",
        "federation.rota.start": "Start",
        "federation.rota.end": "Slut",
        "federation.rota.from": "Fra dato",
        "federation.rota.to": "Til dato",
        "federation.rota.weekdays": "Ugedage",
        "federation.rota.agents_wanted": "Agenter ønsket",
        "federation.rota.add_shift": "Opret vagt",
        "federation.rota.add_shifts": "Opret vagter",
        "federation.rota.pledges": "Tilsagn om timer",
        "federation.rota.pledges_lead": (
            "Kommunernes tilsagn holdt op mod de timer, kommunens agenter har meldt sig på, og de timer, de "
            "faktisk har arbejdet (ledig, ringer, i samtale, efterbehandling; pause tæller ikke)."
        ),
        "federation.rota.period": "Periode",
        "federation.rota.pledged": "Tilsagn (timer)",
        "federation.rota.signed_hours": "Tilmeldt (timer)",
        "federation.rota.worked_hours": "Arbejdet (timer)",
        "federation.rota.short": "under tilsagn",
        "federation.rota.no_pledges": "Ingen tilsagn for denne uge.",
        "federation.rota.kommune_code": "Kommunekode",
        "federation.rota.period_start": "Periodens start",
        "federation.rota.period_end": "Periodens slut",
        "federation.rota.hours": "Timer",
        "federation.rota.pledge": "Giv tilsagn",
        "federation.settlement.title": "Afregning",
        "federation.settlement.lead": (
            "Hvem skylder hvem: hver kommunes andel af hotlinens udgift efter fordelingsnøglen, mod de timer, "
            "kommunens egne agenter har arbejdet. Saldiene summerer til nul."
        ),
        "federation.settlement.start": "Fra",
        "federation.settlement.end": "Til",
        "federation.settlement.key": "Fordelingsnøgle",
        "federation.settlement.weight_calls": "Vægt opkald",
        "federation.settlement.weight_minutes": "Vægt minutter",
        "federation.settlement.weight_population": "Vægt indbyggere",
        "federation.settlement.total_hours": "Arbejdstimer i alt",
        "federation.settlement.hourly_cost": "Timepris",
        "federation.settlement.hourly_cost_kr": "Timepris (kr.)",
        "federation.settlement.total_cost": "Samlet udgift",
        "federation.settlement.other_calls": "Opkald fra ikke-medlemmer og ukendte numre (fordelt efter indbyggertal)",
        "federation.settlement.sum": "Sum af alle saldi",
        "federation.settlement.csv": "Hent som CSV til økonomisystemet",
        "federation.settlement.chart": "Saldo pr. kommune",
        "federation.settlement.chart_lead": (
            "Til højre: kommunen har penge til gode. Til venstre: kommunen skal betale."
        ),
        "federation.settlement.chart_desc": (
            "Søjlediagram med hver medlemskommunes saldo; tallene står også i tabellen."
        ),
        "federation.settlement.table": "Kommunerne",
        "federation.settlement.hours": "Arbejdstimer",
        "federation.settlement.calls": "Besvarede opkald",
        "federation.settlement.key_share": "Andel af nøglen",
        "federation.settlement.credit": "Tilgodehavende",
        "federation.settlement.share": "Andel af udgiften",
        "federation.settlement.balance": "Saldo",
        "federation.settlement.statement": "Opgørelse",
        "federation.settlement.settings": "Fordelingsnøgle og timepris",
        "federation.statement.title": "Afregning for {name}",
        "federation.statement.pdf": "Hent opgørelsen som PDF",
        "federation.link.statement": "Afregning for kommune {code}",
    },
    "en": {
        "federation.nav": "Rota",
        "federation.show": "Show",
        "federation.save": "Save",
        "federation.hour": "Hour",
        "federation.kommune": "Kommune",
        "federation.holiday": "holiday",
        "federation.previous_week": "Previous week",
        "federation.next_week": "Next week",
        "federation.weekday.0": "Monday",
        "federation.weekday.1": "Tuesday",
        "federation.weekday.2": "Wednesday",
        "federation.weekday.3": "Thursday",
        "federation.weekday.4": "Friday",
        "federation.weekday.5": "Saturday",
        "federation.weekday.6": "Sunday",
        "federation.key.per_call": "Per call",
        "federation.key.per_minute": "Per handled minute",
        "federation.key.population": "By population",
        "federation.key.mix": "Mixed (weights)",
        "federation.forecast.title": "Staffing forecast",
        "federation.forecast.lead": (
            "Calls expected per hour and the agents to roster so that {target} % of calls are answered within "
            "{threshold} seconds (Erlang C)."
        ),
        "federation.forecast.weeks": "Choose a week",
        "federation.forecast.from_day": "From day",
        "federation.forecast.calls": "calls",
        "federation.forecast.agents": "agents rostered",
        "federation.forecast.aht": "Average handle time",
        "federation.forecast.summary": "About {calls} calls in all; at most {peak} agents rostered in one hour.",
        "federation.forecast.chart_desc": (
            "Bars: calls expected per hour (left axis). Line: agents rostered (right axis). The figures are also "
            "in the table below the chart."
        ),
        "federation.forecast.table_caption": "The forecast hour by hour",
        "federation.forecast.settings": "Service target and assumptions",
        "federation.forecast.method": (
            "The forecast uses the same weekday in the last 8 weeks, recent weeks weighing most. Holidays are "
            "left out of the history, and a holiday is forecast from the Sundays before it."
        ),
        "federation.forecast.target": "Service target (% answered within the threshold)",
        "federation.forecast.threshold": "Threshold (seconds)",
        "federation.forecast.shrinkage": "Shrinkage: breaks, training, sickness (%)",
        "federation.forecast.occupancy": "Maximum occupancy (%)",
        "federation.forecast.json": "Download the forecast as JSON",
        "federation.rota.title": "Rota",
        "federation.rota.lead": (
            "The week's shifts held against the forecast. The coordinator plans shifts, the kommuner pledge "
            "hours, and agents sign up to shifts."
        ),
        "federation.rota.weeks": "Choose a week",
        "federation.rota.week_of": "Week of the day",
        "federation.rota.gaps": "{count} hours of the week are short of agents against the forecast.",
        "federation.rota.no_gaps": "Every hour of the week is covered against the forecast.",
        "federation.rota.grid_caption": "Agent-hours signed up against the need per hour",
        "federation.rota.cell": "{signed} of {needed}",
        "federation.rota.missing": "{count} short",
        "federation.rota.underplanned": "too few shifts planned",
        "federation.rota.covered": "covered",
        "federation.rota.none_needed": "no need",
        "federation.rota.legend": (
            "Each cell shows the agent-hours signed up against the agents the forecast needs. Hours short of "
            "agents are marked in red with the word \u201cshort\u201d."
        ),
        "federation.rota.shifts": "Shifts",
        "federation.rota.signed_of": "{signed} of {wanted} agents signed up",
        "federation.rota.sign_up": "Sign me up",
        "federation.rota.withdraw": "Withdraw",
        "federation.rota.full": "full",
        "federation.rota.delete": "Delete shift",
        "federation.rota.no_shifts": "No shifts planned this week.",
        "federation.rota.plan": "Plan a shift",
        "federation.rota.bulk": "Plan many shifts",
        "federation.rota.date": "Date",
        "federation.rota.start": "Start",
        "federation.rota.end": "End",
        "federation.rota.from": "From date",
        "federation.rota.to": "To date",
        "federation.rota.weekdays": "Weekdays",
        "federation.rota.agents_wanted": "Agents wanted",
        "federation.rota.add_shift": "Add shift",
        "federation.rota.add_shifts": "Add shifts",
        "federation.rota.pledges": "Pledged hours",
        "federation.rota.pledges_lead": (
            "The kommuner's pledges held against the hours their agents signed up for and the hours they actually "
            "worked (available, ringing, on a call, wrap-up; pause does not count)."
        ),
        "federation.rota.period": "Period",
        "federation.rota.pledged": "Pledged (hours)",
        "federation.rota.signed_hours": "Signed up (hours)",
        "federation.rota.worked_hours": "Worked (hours)",
        "federation.rota.short": "below pledge",
        "federation.rota.no_pledges": "No pledges for this week.",
        "federation.rota.kommune_code": "Kommune code",
        "federation.rota.period_start": "Period start",
        "federation.rota.period_end": "Period end",
        "federation.rota.hours": "Hours",
        "federation.rota.pledge": "Pledge",
        "federation.settlement.title": "Settlement",
        "federation.settlement.lead": (
            "Who owes whom: each kommune's share of the hotline's cost by the allocation key, against the hours "
            "its own agents worked. The balances sum to zero."
        ),
        "federation.settlement.start": "From",
        "federation.settlement.end": "To",
        "federation.settlement.key": "Allocation key",
        "federation.settlement.weight_calls": "Weight of calls",
        "federation.settlement.weight_minutes": "Weight of minutes",
        "federation.settlement.weight_population": "Weight of population",
        "federation.settlement.total_hours": "Hours worked in all",
        "federation.settlement.hourly_cost": "Hourly cost",
        "federation.settlement.hourly_cost_kr": "Hourly cost (DKK)",
        "federation.settlement.total_cost": "Total cost",
        "federation.settlement.other_calls": "Calls from non-members and unknown numbers (shared by population)",
        "federation.settlement.sum": "Sum of all balances",
        "federation.settlement.csv": "Download as CSV for the finance system",
        "federation.settlement.chart": "Balance per kommune",
        "federation.settlement.chart_lead": "Right: the kommune is owed money. Left: the kommune owes.",
        "federation.settlement.chart_desc": (
            "Bar chart of each member kommune's balance; the figures are also in the table."
        ),
        "federation.settlement.table": "The kommuner",
        "federation.settlement.hours": "Hours worked",
        "federation.settlement.calls": "Answered calls",
        "federation.settlement.key_share": "Share of the key",
        "federation.settlement.credit": "Credit",
        "federation.settlement.share": "Share of the cost",
        "federation.settlement.balance": "Balance",
        "federation.settlement.statement": "Statement",
        "federation.settlement.settings": "Allocation key and hourly cost",
        "federation.statement.title": "Settlement for {name}",
        "federation.statement.pdf": "Download the statement as PDF",
        "federation.link.statement": "Settlement for kommune {code}",
    },
}
