"""Sensors: start runs when complete new client drops land."""
