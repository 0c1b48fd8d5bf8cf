"""pytest plugin for device runs (`-p instafail` with bench/ on PYTHONPATH): prints each failure's
traceback the moment it is reported, so a run cut off by its time limit still shows why."""


def pytest_runtest_logreport(report):
    if report.failed:
        print(f"\n=== FAILED {report.nodeid} ({report.when})\n{report.longreprtext[-3000:]}\n", flush=True)
