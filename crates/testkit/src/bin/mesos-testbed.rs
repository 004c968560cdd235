//! The project's test Marathon and test Chronos as one process, for benchmarks and trying the
//! Marathon and Chronos backends by hand: `mesos-testbed [MARATHON_PORT] [CHRONOS_PORT]` (0 or
//! absent: any free port) prints `MARATHON_URL=…` and `CHRONOS_URL=…` and serves until killed.

fn main() {
    let ports: Vec<u16> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a port number"))
        .collect();
    let marathon =
        testkit::marathon::FakeMarathon::start_on(ports.first().copied().unwrap_or(0), None);
    let chronos = testkit::chronos::FakeChronos::start_on(ports.get(1).copied().unwrap_or(0));
    println!("MARATHON_URL={}", marathon.url());
    println!("CHRONOS_URL={}", chronos.url());
    loop {
        std::thread::park();
    }
}
