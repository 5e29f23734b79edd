from cnnrun.main import main

main()
