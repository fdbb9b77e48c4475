"""One router per domain. Routers parse, authorise and call the backend; nothing more."""
