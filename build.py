#!/usr/bin/env python3
"""Build the partner directory: `python build.py [build|check|schema|explain|serve|new|diff] ...`."""

import gc
import os
import sys
import threading

if __name__ == "__main__":
    # One command and then os._exit: the cyclic garbage collector has nothing to give back that
    # the end of the process does not, and its passes over what the libraries' imports and a
    # build make cost a cold build of 10,000 partners 0.2-0.35 s (its last pass, over everything
    # the build made, ran after the build was done). `serve`, which runs on, turns it back on.
    gc.disable()
    from partnerdir.cli import main

    code = main()
    # Everything is written: the threads still freeing replaced files finish, and then the
    # process ends without taking its objects apart one by one (after a build of 10,000
    # partners, half a second of the command's time).
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
