#!/usr/bin/env python3
"""Runs a command with a terminal as its stdin (echo off), types what this
script reads on its own stdin into it line by line, then end-of-file, and
passes the command's stdout through. Exits with the command's status.

usage: producer | on_tty.py COMMAND [ARG...]"""
import os
import pty
import subprocess
import sys
import termios

data = sys.stdin.buffer.read()
master, slave = pty.openpty()
attr = termios.tcgetattr(slave)
attr[3] &= ~termios.ECHO
termios.tcsetattr(slave, termios.TCSANOW, attr)
proc = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=subprocess.PIPE)
os.close(slave)
for line in data.splitlines(keepends=True):
    os.write(master, line)
os.write(master, b"\x04")  # end of file at the start of a line
out, _ = proc.communicate(timeout=60)
sys.stdout.buffer.write(out)
sys.exit(proc.returncode)
