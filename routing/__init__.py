"""Routing: rules and the classifier pick a unit; tickets, deadlines, reminders, jobs."""
