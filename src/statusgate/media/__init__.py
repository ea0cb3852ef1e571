"""Turning a urlFile into a checked, content-addressed file ready for WhatsApp."""
