"""The already-read guard: the articles a reply draft links to (`links`), checked against
what the customer read (`guard`)."""
