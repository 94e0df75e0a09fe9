"""Reference interpreters that are not soft-prompted LLMs, written as outside plug-ins would be."""
