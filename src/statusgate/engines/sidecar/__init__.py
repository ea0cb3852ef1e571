"""What every engine that runs its library in a child process shares with the others (the whatsapp engine
today, the baileys engine next): the wire's framing, the supervision of a child, and the account's lifecycle.
See docs/engines.md, "The protocol between server and child" and "The account's lifecycle"."""
