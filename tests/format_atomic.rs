//! Kill during save: a child process saves a large model over and over; the parent kills it
//! with SIGKILL at random moments. After every kill the file must load intact — the complete
//! previous or the complete new version, never a mix or a torn write.
//!
//! The child is this test binary run again with `NANONN_SAVE_LOOP` set (see
//! `save_loop_child`), so no extra program is needed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nanonn::format::{self, ModelFile};
use nanonn::prelude::*;

const ENV: &str = "NANONN_SAVE_LOOP";

/// 1024·1024 + 1024 + 1024·1024 + 1024 parameters: an 8 MiB file, long enough to write
/// that a random kill often lands inside a save.
fn big_net() -> Net<'static, Vec<f32>> {
    let layers: [AnyLayer; 3] = [
        Dense::new(1024, 1024).into(),
        Activation::ReLU.into(),
        Dense::new(1024, 1024).into(),
    ];
    Net::owned(layers, Shape::vector(1024), 1, Purpose::Inference, 0).unwrap()
}

/// The parameters of generation `g`: `g`, then a pattern that a torn write would break.
fn fill(net: &mut Net<'static, Vec<f32>>, g: u32) {
    for (i, p) in net.params_mut().iter_mut().enumerate() {
        *p = if i == 0 {
            g as f32
        } else {
            g as f32 + (i % 1000) as f32 * 1e-3
        };
    }
}

/// Checks that `path` holds one complete generation; returns it, or the error.
fn check(path: &Path) -> Result<u32, String> {
    let bytes = format::read(path).map_err(|e| e.to_string())?;
    let file = ModelFile::parse(&bytes).map_err(|e| format!("the saved file is damaged: {e}"))?;
    let mut p = vec![0.0f32; file.param_count()];
    file.copy_params(&mut p).map_err(|e| e.to_string())?;
    let g = p[0] as u32;
    for (i, v) in p.iter().enumerate().skip(1) {
        if *v != g as f32 + (i % 1000) as f32 * 1e-3 {
            return Err(format!("generation {g} torn at parameter {i}"));
        }
    }
    Ok(g)
}

/// Not a test of its own: the loop the parent runs in a child process and kills. With
/// `NANONN_SAVE_LOOP_MODE=direct` it overwrites the file in place instead (the control).
#[test]
fn save_loop_child() {
    let Some(path) = std::env::var_os(ENV) else {
        return;
    };
    let direct = std::env::var("NANONN_SAVE_LOOP_MODE").is_ok_and(|m| m == "direct");
    let mut net = big_net();
    println!("ready");
    for g in 1u32.. {
        fill(&mut net, g);
        if direct {
            std::fs::write(&path, format::to_vec(&net, None).unwrap()).unwrap();
        } else {
            format::save(&path, &net, None).unwrap();
        }
    }
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect()
}

/// What the kills found.
#[derive(Default, Debug)]
struct Outcome {
    kills: usize,
    /// Kills that left a temporary file: they interrupted a save.
    interrupted: usize,
    /// Times the file was found holding a new generation.
    changed: usize,
    /// Kills after which the file did not load intact.
    damaged: usize,
}

/// Runs the child `kills` times in `dir` (`direct`: the control), killing it with SIGKILL
/// after a random while; stops early once `stop` says so.
fn kill_children(
    name: &str,
    direct: bool,
    kills: usize,
    stop: impl Fn(&Outcome) -> bool,
) -> Outcome {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.nnf");
    let mut net = big_net();
    fill(&mut net, 0);
    format::save(&path, &net, None).unwrap();
    drop(net);
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(2024);
    let mut out = Outcome::default();
    let mut last = 0;
    while out.kills < kills && !stop(&out) {
        let mut child = Command::new(&exe)
            .args([
                "save_loop_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, &path)
            .env(
                "NANONN_SAVE_LOOP_MODE",
                if direct { "direct" } else { "atomic" },
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the child has built its network, then let it save for a random while.
        // (The test harness prints its own lines first.)
        let lines = BufReader::new(child.stdout.take().unwrap());
        let ready = lines.lines().take(20).any(|l| l.unwrap().contains("ready"));
        assert!(ready, "the child did not start");
        std::thread::sleep(Duration::from_millis(rng.below(200) as u64));
        child.kill().unwrap(); // SIGKILL on Unix: no destructor, no cleanup runs
        child.wait().unwrap();
        out.kills += 1;
        match check(&path) {
            Ok(g) if g != last => {
                out.changed += 1;
                last = g;
            }
            Ok(_) => {}
            Err(e) => {
                println!("after kill {}: {e}", out.kills);
                out.damaged += 1;
            }
        }
        let left = temp_files(&dir);
        out.interrupted += usize::from(!left.is_empty());
        for f in left {
            std::fs::remove_file(f).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

#[test]
fn killing_a_save_never_destroys_the_previous_file() {
    let start = Instant::now();
    let out = kill_children("kill-during-save", false, 30, |_| false);
    println!(
        "atomic saves, {:.1}s: {out:?}",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(out.damaged, 0, "a killed save damaged the file");
    assert!(
        out.changed > 0,
        "the child never completed a save: the test proves nothing"
    );
    assert!(
        out.interrupted > 0,
        "no kill landed inside a save: the test proves nothing"
    );
}

/// The control: overwriting the file in place (what `save` avoids) is caught by the same
/// kills, so the test above can fail.
#[test]
fn killing_a_direct_overwrite_is_caught() {
    let out = kill_children("kill-during-write", true, 100, |o| o.damaged > 0);
    println!("direct overwrites: {out:?}");
    assert!(
        out.damaged > 0,
        "no torn direct write in {} kills",
        out.kills
    );
}
