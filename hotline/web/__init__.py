"""Server-rendered pages: templates, static files, UI text and the helpers templates use."""
