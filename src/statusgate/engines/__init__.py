"""Engines: the narrow interface to a WhatsApp network, and its implementations (sandbox, whatsapp)."""
