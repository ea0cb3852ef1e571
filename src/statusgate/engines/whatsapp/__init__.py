"""The ``whatsapp`` engine: real WhatsApp through neonize (whatsmeow), each account in its own child process.

Server side: ``engine`` (the Engine Protocol), ``account`` (one supervised child per instance), ``process``
(the pipe plumbing), ``sends`` (sending under WhatsApp's ids), ``events`` (events on their way to the
queue), ``files`` (what lives in the instance's session dir). Child side: ``child`` (the process entry
point), ``session`` (the neonize adapter), ``messages`` (protobuf builders). ``protocol`` is the typed wire
between the two. Nothing here imports neonize at module level but the child-side modules, which only the
child process (and tests) import.
"""
