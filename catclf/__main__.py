"""`python -m catclf`: the same command as `catclf`."""

from catclf.entry import main

if __name__ == "__main__":
    main()
