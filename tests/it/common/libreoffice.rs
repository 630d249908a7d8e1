//! LibreOffice headless as staff open our files: converts a CSV or XLSX to XLSX in its own
//! profile (so parallel runs do not share one) and returns the converted file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Converts `input` into `out` with the profile at `profile`, importing a CSV with `infilter`
/// when given; fails the test when LibreOffice fails, hangs for 3 minutes or writes nothing.
pub fn to_xlsx(profile: &Path, out: &Path, input: &Path, infilter: Option<&str>) -> PathBuf {
    let mut command = Command::new("soffice");
    command
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to", "xlsx:Calc MS Excel 2007 XML"])
        .arg("--outdir")
        .arg(out);
    if let Some(filter) = infilter {
        command.arg(format!("--infilter={filter}"));
    }
    let mut child = command
        .arg(input)
        .spawn()
        .expect("soffice (apt-get install libreoffice-calc-nogui)");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "soffice failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("soffice did not finish converting {}", input.display());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let converted = out.join(input.with_extension("xlsx").file_name().unwrap());
    assert!(
        converted.exists(),
        "LibreOffice wrote no {}",
        converted.display()
    );
    converted
}
