#!/usr/bin/env bash
# A C++ program (std::string, std::map, std::thread, C++17 aligned new): same output with and without umm.
set -u
. tests/preload/lib.bash
compare cxx "$B/tests/preload/cxx"
