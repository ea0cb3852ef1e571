"""A loopback stand-in for WhatsApp's chat server, for testing the baileys engine offline (README.md).

The server and the probe are Node (``*.mjs``); :mod:`tests.baileys_standin.driver` drives them from Python.
"""
