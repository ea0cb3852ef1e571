from statusgate.cli import main

main()
