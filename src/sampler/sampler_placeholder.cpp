// Placeholder until this part has sources.
