"""What every engine that runs its library in a child process shares with the others (the whatsapp engine
today, the baileys engine next): the wire's framing. See docs/engines.md, "The child protocol"."""
