"""The federation's economics: the staffing forecast, the rota (shifts, pledges, sign-ups) and the settlement of
who owes whom."""
