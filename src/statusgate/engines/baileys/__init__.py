"""The baileys engine (issue 13): WhatsApp through Baileys in a supervised Node child, posting statuses to
exactly the audience asked for. So far: its installer (``install``), and its auth state in the database
(``protocol``, ``keys``, ``child/auth_state.mjs``); the engine is not yet selectable."""
