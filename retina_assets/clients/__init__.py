"""Client onboarding: declarative YAML specs that the asset graph is built from."""
