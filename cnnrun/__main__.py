"""`python -m cnnrun`: the same as the `cnnrun` console script."""

if __name__ == "__main__":
    from cnnrun.cli import main

    main()
