//! What the report says about the machine it ran on: cores, and the load average before and
//! after the run (a figure taken while other work ran is not a measurement of the server).

use serde::Serialize;

/// Cores and load averages (1, 5 and 15 minutes) around a run.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
}

/// The 1, 5 and 15 minute load averages, where the system tells them (Linux).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

impl Machine {
    /// Starts the record: cores and the load average now.
    pub fn before_run() -> Machine {
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load_before: load_average(),
            load_after: None,
        }
    }

    pub fn after_run(mut self) -> Machine {
        self.load_after = load_average();
        self
    }

    /// One line for the reports.
    pub fn sentence(&self) -> String {
        let show = |load: Option<[f64; 3]>| {
            load.map_or("unknown".to_string(), |[a, b, c]| {
                format!("{a:.2} {b:.2} {c:.2}")
            })
        };
        format!(
            "machine: {} cores; load average before {}, after {}",
            self.cores,
            show(self.load_before),
            show(self.load_after)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sentence_names_cores_and_both_load_averages() {
        let machine = Machine {
            cores: 2,
            load_before: Some([0.1, 0.2, 0.3]),
            load_after: None,
        };
        assert_eq!(
            machine.sentence(),
            "machine: 2 cores; load average before 0.10 0.20 0.30, after unknown"
        );
    }
}
