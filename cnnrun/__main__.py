from cnnrun.cli import main

main()
