"""Calls: telephony intake, after-hours routing, the federation queue, agent presence and the agent console."""
