"""Service figures: what the kommuner are measured by (calls, callbacks, replies, hand-offs), their targets, the
citizen satisfaction survey, the best times to call, the dashboards and the synthetic history behind the demo."""
