# SPDX-License-Identifier: MIT
"""Fixtures: where the build tree's guests and sandbox programs are, and KVM."""
import os

import pytest

import libvmm

TOP = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.environ.get("LIBVMM_BUILD_DIR", os.path.join(TOP, "build"))


def guest(name):
    """A flat guest image the build wrote (build/guest/NAME.bin)."""
    return os.path.join(BUILD, "guest", name + ".bin")


def program(name):
    """A static musl program the build wrote (build/tests/sandbox/NAME)."""
    return os.path.join(BUILD, "tests", "sandbox", name)


@pytest.fixture
def kvm():
    """Skip without a usable KVM, unless LIBVMM_REQUIRE_KVM=1 makes that a failure."""
    try:
        return libvmm.host_info()
    except libvmm.VmmError as e:
        if os.environ.get("LIBVMM_REQUIRE_KVM") == "1":
            pytest.fail("KVM is required (LIBVMM_REQUIRE_KVM=1) but unusable: %s" % e)
        pytest.skip("/dev/kvm unusable: %s" % e)
