from catclf.cli import main

main()
