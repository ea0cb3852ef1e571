"""The baileys engine (issue 13): WhatsApp through Baileys in a supervised Node child, posting statuses to
exactly the audience asked for. So far only its installer (``install``) is here; the engine is not yet
selectable."""
