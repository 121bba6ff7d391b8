"""dd oflag=direct of a known size is seen as that many bytes written by
dd's service, with latency observations for its device."""
import os
import subprocess
import tempfile
import unittest

import harness
from harness import Agent

MIB = 1 << 20
WRITE_MIB = 24


class DiskIo(unittest.TestCase):
    def setUp(self):
        harness.require_root()
        harness.require_tool("losetup")
        harness.require_tool("dd")
        self.tmp = tempfile.TemporaryDirectory(dir="/var/tmp")
        self.addCleanup(self.tmp.cleanup)
        backing = os.path.join(self.tmp.name, "disk.img")
        with open(backing, "wb") as f:
            f.truncate(64 * MIB)
        r = subprocess.run(["losetup", "--find", "--show", backing], capture_output=True, text=True)
        if r.returncode != 0:
            harness.cannot_run(f"no loop device: {r.stderr.strip()}")
        self.loop = r.stdout.strip()
        self.addCleanup(subprocess.run, ["losetup", "--detach", self.loop])

    def test_direct_write_bytes_and_latency(self):
        device = os.path.basename(self.loop)
        # the rule matches dd's own command line: of=<this loop device>
        with Agent("--service", f"ddtest=cmdline:of={self.loop}") as agent:
            r = subprocess.run(["dd", "if=/dev/zero", f"of={self.loop}", "bs=1M", f"count={WRITE_MIB}",
                                "oflag=direct"], capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"{WRITE_MIB * MIB} bytes", r.stderr)
            written = dict(service_name="ddtest", operation="write")
            agent.wait_for(lambda m: m.value("redeye_process_disk_io_bytes_total", **written) >= WRITE_MIB * MIB,
                           what="dd's bytes")
            m = agent.settle()
            self.assertEqual(m.value("redeye_process_disk_io_bytes_total", **written), WRITE_MIB * MIB)
            latency = dict(device=device, operation="write")
            count = m.value("redeye_disk_io_duration_seconds_count", **latency)
            print(f"measured: bytes={m.value('redeye_process_disk_io_bytes_total', **written):.0f} "
                  f"latency_observations={count:.0f} device={device}", flush=True)
            self.assertGreater(count, 0, f"no latency observed for {device}")
            self.assertGreater(m.value("redeye_disk_io_duration_seconds_sum", **latency), 0)
            self.assertEqual(m.value("redeye_disk_io_duration_seconds_bucket", le="+Inf", **latency), count)
            agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
