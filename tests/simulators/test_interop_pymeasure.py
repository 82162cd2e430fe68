"""PyMeasure's public clients drive our electrometer simulators through pyvisa-py (an independent check).

``ptwUNIDOS`` over a raw TCP socket (the Tango's port-8123 "SCPI over telnet") and ``Keithley6517B`` over a
TCP socket and over a pty (``ASRL``). Neither client sleeps in the calls used here, so the world runs on a
``VirtualClock``: the test switches the beam on and lets virtual time pass between client calls, and the
charge a client reads must match the model's prediction. A SCPI write is not acknowledged, so before
virtual time moves the test syncs with a query (``complete`` = ``*OPC?``), as a driver must on real hardware.

Two things PyMeasure 0.16 does that a manual-conformant 6517B answers with an error, shown here on purpose:
``source_voltage_range = …`` sends ``:SOUR:VOLT:RANG:AUTO 0`` (the 6517B V-source has no auto range → −113),
and ``current`` returns None in the charge function (its regex wants a 3-letter unit; charge is ``COUL``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymeasure.instruments.keithley import Keithley6517B
from pymeasure.instruments.ptw import ptwUNIDOS

from simulators.clock import VirtualClock
from simulators.electrometer import Electrometer, ElectrometerConfig, add_electrometer
from simulators.keithley6517b import Keithley6517bConfig, Keithley6517bSim
from simulators.ptw_unidos import UnidosConfig, UnidosSim
from simulators.radiation import RadiationSource, RadiationSourceConfig, add_radiation_source
from simulators.serve import PtyServer, TcpServer
from simulators.world import World

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("no_leaks")]

SENSITIVITY = 2.0e-8  # C/Gy, the default Farmer
READING = re.compile(r"([+-][0-9.]+E[+-]\d\d)([NZOURL])(ADC|COUL)")


@dataclass
class Bench:
    world: World
    clock: VirtualClock
    source: RadiationSource
    chamber: Electrometer


@pytest.fixture
def bench() -> Bench:
    clock = VirtualClock()
    world = World(clock, seed=5)
    source = add_radiation_source(world, "beam", RadiationSourceConfig())
    chamber = add_electrometer(world, "chamber", ElectrometerConfig(initial_bias_v=300.0))
    return Bench(world, clock, source, chamber)


def predicted_charge(bench: Bench, gray: float, seconds: float) -> float:
    """Independent of the integrator: S·D/P_ion plus leakage and the un-zeroed offset over the time."""
    c = bench.chamber.config
    p_ion = bench.chamber.p_ion(bench.source.dose_rate_gy_s(t=bench.source.segments()[-1].start), 300.0)
    return SENSITIVITY * gray / p_ion + (c.leakage_current_a + c.zero_offset_current_a) * seconds


# ------------------------------------------------------------------------------------------- UNIDOS
@pytest.fixture
def unidos(bench: Bench) -> Iterator[ptwUNIDOS]:
    device = UnidosSim(bench.world, UnidosConfig(electrometer="chamber"))
    with TcpServer(device) as server:
        instrument = ptwUNIDOS(f"TCPIP::127.0.0.1::{server.port}::SOCKET", visa_library="@py")
        try:
            yield instrument
        finally:
            instrument.adapter.close()


def test_ptw_unidos_identifies_configures_measures(unidos: ptwUNIDOS, bench: Bench) -> None:
    assert unidos.id == ["UNIDOS Tango", "TM10052", "1.2.4", "A16"]
    assert unidos.serial_number == 123456
    assert unidos.status == "RES"
    with pytest.raises(ValueError, match="E20"):
        unidos.reset()  # no write permission yet
    unidos.write_enabled = True
    assert unidos.write_enabled is True
    unidos.voltage = 300
    unidos.range = "MEDIUM"
    unidos.integration_time = 10
    unidos.electrical_units_enabled = True
    assert (unidos.voltage, unidos.range, unidos.integration_time) == (300, "MEDIUM", 10)
    assert unidos.electrical_units_enabled is True
    assert unidos.range_max == {"range": "MEDIUM", "current": 5e-9, "doserate": 5e-9, "timebase": ""}

    unidos.reset()
    unidos.interval_measurement()  # INT: integrate for IT = 10 s
    bench.source.deliver(100)  # 1 Gy over exactly those 10 s
    assert unidos.status == "INT"
    bench.clock.sleep(15.0)
    result = unidos.measurement_result
    assert (result["status"], result["time"], result["voltage"], result["error"]) == (
        "EOM",
        10000.0,
        300.0,
        "0x0",
    )
    assert result["charge"] == pytest.approx(predicted_charge(bench, 1.0, 10.0), rel=1e-3)
    assert unidos.errorflags_to_text(result["error"]) == []

    unidos.reset()
    unidos.measure()
    with pytest.raises(ValueError, match="E03"):
        unidos.zero()  # not while measuring
    unidos.hold()
    assert unidos.status == "HOLD"
    unidos.zero()
    assert unidos.zero_status == {"status": "Running", "time_remaining": 82000, "time_total": 82000}
    bench.clock.sleep(82.0)
    assert unidos.zero_status["status"] == "Passed"
    unidos.write_enabled = False
    assert unidos.write_enabled is False


# ------------------------------------------------------------------------------------------- 6517B
@pytest.fixture(params=["tcp", "pty"])
def keithley(request: pytest.FixtureRequest, bench: Bench) -> Iterator[Keithley6517B]:
    device = Keithley6517bSim(bench.world, Keithley6517bConfig(electrometer="chamber"))
    server = TcpServer(device) if request.param == "tcp" else PtyServer(device)
    with server:
        if isinstance(server, TcpServer):
            resource = f"TCPIP::127.0.0.1::{server.port}::SOCKET"
        else:
            resource = f"ASRL{server.path}::INSTR"
        instrument = Keithley6517B(
            resource, read_termination="\n", write_termination="\n", visa_library="@py"
        )
        try:
            yield instrument
        finally:
            instrument.adapter.close()


def test_keithley_6517b_identifies_configures_measures(keithley: Keithley6517B, bench: Bench) -> None:
    assert keithley.id == "KEITHLEY INSTRUMENTS INC.,MODEL 6517B,4096271,A13/700X"
    keithley.reset()
    keithley.measure_current(nplc=1, current=2e-9, auto_range=False)  # checks the error queue itself
    assert (keithley.current_range, keithley.current_nplc) == (2e-9, 1.0)

    keithley.source_voltage_range = 1000  # PyMeasure also sends :SOUR:VOLT:RANG:AUTO 0
    assert [int(code) for code, _ in keithley.check_errors()] == [-113]
    keithley.write(":SOUR:VOLT:RANG 1000")
    keithley.source_voltage = 300
    keithley.enable_source()
    assert keithley.source_voltage == 300.0
    assert keithley.check_errors() == []
    keithley.write(":SYST:ZCH OFF")
    assert keithley.complete == "1"  # writes are not acknowledged: sync before virtual time moves

    bench.source.beam_on(6.0)  # 0.1 Gy/s
    bench.clock.sleep(1800.0)  # the bias was just switched on: wait out the settling
    assert keithley.current == pytest.approx(bench.chamber.current_at(), rel=2e-3)
    assert keithley.current == pytest.approx(SENSITIVITY * 0.1 / bench.chamber.p_ion(0.1, 300.0), rel=2e-3)
    bench.source.beam_off()

    keithley.write(":SENS:FUNC 'CHAR'")  # zero check is off, so integration starts now
    assert keithley.complete == "1"
    start = bench.clock.now()
    bench.source.deliver(100)
    bench.clock.sleep(15.0)
    match = READING.match(keithley.ask(":READ?"))
    assert match is not None and match.group(2, 3) == ("N", "COUL")
    assert float(match.group(1)) == pytest.approx(predicted_charge(bench, 1.0, 15.0), rel=1e-3)
    assert float(match.group(1)) == pytest.approx(
        bench.chamber.charge_between(start, bench.clock.now()), rel=1e-3
    )
    assert keithley.current is None  # PyMeasure's regex cannot read "NCOUL"

    keithley.write(":SENS:FUNC 'CURR'")
    keithley.config_buffer(5)
    keithley.write(":TRIG:COUN 5")  # config_buffer() sets no trigger count on this model
    keithley.start_buffer()
    assert not keithley.is_buffer_full()  # a query: the :INIT before it has been executed
    bench.clock.sleep(1.0)
    assert keithley.is_buffer_full()
    keithley.write(":FORM:ELEM READ")  # buffer_data parses bare numbers only
    data = keithley.buffer_data
    assert len(data) == 5 and all(abs(x) < 1e-13 for x in data)  # beam off: leakage and offset only
    assert keithley.complete == "1"
    assert keithley.next_error == [0, '"No error"']
