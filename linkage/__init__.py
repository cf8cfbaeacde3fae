"""Who is this adult? Linking people across agencies without a shared identifier."""
