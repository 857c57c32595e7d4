"""`python -m catclf`: the same command as `catclf`. Python has imported the package
front, which imports nothing; catclf.entry imports only what Python itself has already
imported, and main sets the signal handlers before anything else."""

from catclf.entry import main

if __name__ == "__main__":
    main()
