//! `--device` through the binary: on a machine without a GPU, `run` (auto) says it used the
//! CPU and why, `--device cuda` exits with the usage code and a message naming what is
//! missing (no panic), and a bad value is refused. On a machine with a GPU, `cuda` runs and
//! gives the CPU's results.

mod common;

use common::Sandbox;
use heavytune::kernels::gpu::driver_present;
use serde_json::Value;

const DATA: &str = "Date,A,B,C,D,E,F\n\
2024-01-02,1.5,-2,3,0.5,-1,2\n\
2024-01-03,-0.5,1,-1,2,0.25,-3\n\
2024-01-04,2,0.5,-2.5,-1,1,1\n\
2024-01-05,-1,2,1,0.75,-2,0.5\n";

fn run(sb: &Sandbox, device: &str, json: bool) -> common::Run {
    let mut args = vec!["run", "--input", "d.csv", "--min-size", "2", "--max-size", "3", "--generations", "4"];
    args.extend_from_slice(&[
        "--population",
        "4",
        "--stats",
        "local",
        "--out",
        "out",
        "--no-plots",
        "--device",
        device,
    ]);
    if json {
        args.push("--json");
    }
    sb.run(&args)
}

fn without_run_details(mut v: Value) -> Value {
    for k in ["run_id", "output_dir", "threads", "timings", "evaluations_per_second", "device", "spec"] {
        v.as_object_mut().unwrap().remove(k);
    }
    for s in v["sizes"].as_array_mut().unwrap() {
        for a in s["algorithms"].as_array_mut().unwrap() {
            a.as_object_mut().unwrap().remove("seconds");
        }
    }
    v
}

#[test]
fn auto_says_where_the_kernels_ran_and_cuda_without_a_gpu_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.write("d.csv", DATA.as_bytes());
    let auto = run(&sb, "auto", false);
    assert!(auto.ok, "{}", auto.stderr);
    let cpu: Value = serde_json::from_str(&run(&sb, "cpu", true).stdout).unwrap();
    assert_eq!(cpu["device"]["used"], "cpu");
    assert_eq!(cpu["device"]["cpu_reason"], "--device cpu");
    let folders = || sb.dir.path().join("out").read_dir().unwrap().count();
    let before = folders();
    let cuda = run(&sb, "cuda", true);
    let after = folders();
    if driver_present() {
        assert!(cuda.ok, "{}", cuda.stderr);
        let gpu: Value = serde_json::from_str(&cuda.stdout).unwrap();
        assert_eq!(gpu["device"]["used"], "cuda:0");
        assert_eq!(without_run_details(gpu), without_run_details(cpu), "the GPU gives the CPU's results");
        return;
    }
    assert!(auto.stdout.contains("kernels: CPU (no usable GPU: no CUDA driver"), "{}", auto.stdout);
    let auto_json: Value = serde_json::from_str(&run(&sb, "auto", true).stdout).unwrap();
    assert_eq!(auto_json["device"]["used"], "cpu");
    assert!(auto_json["device"]["cpu_reason"].as_str().unwrap().starts_with("no usable GPU: "));
    assert_eq!(without_run_details(auto_json), without_run_details(cpu), "auto and cpu give the same run");
    assert_eq!(cuda.code, Some(2), "{}", cuda.stderr);
    assert!(cuda.stderr.contains("--device") && cuda.stderr.contains("no CUDA driver"), "{}", cuda.stderr);
    assert!(!cuda.stderr.contains("panicked"), "{}", cuda.stderr);
    assert_eq!(after, before, "the refused run left no run folder");
}

#[test]
fn score_takes_the_device_flag_and_bad_values_are_refused() {
    let sb = Sandbox::new();
    sb.write("d.csv", DATA.as_bytes());
    sb.write("p.txt", b"A|B\nC|D|E\nB|F\n");
    let ok = sb.run(&["score", "--input", "d.csv", "--portfolio-file", "p.txt", "--device", "cpu", "--json"]);
    assert!(ok.ok, "{}", ok.stderr);
    assert!(ok.stderr.contains("kernels: CPU (--device cpu)"), "{}", ok.stderr);
    let auto = sb.run(&["score", "--input", "d.csv", "--portfolio-file", "p.txt", "--json"]);
    assert_eq!(auto.stdout, ok.stdout, "auto and cpu score alike");
    if !driver_present() {
        let cuda = sb.run(&["score", "--input", "d.csv", "--portfolio-file", "p.txt", "--device", "cuda:1"]);
        assert_eq!(cuda.code, Some(2), "{}", cuda.stderr);
        assert!(cuda.stderr.contains("cuda:1") && cuda.stderr.contains("no CUDA driver"), "{}", cuda.stderr);
    }
    let bad = sb.run(&["run", "--input", "d.csv", "--device", "tpu"]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("\"tpu\"") && bad.stderr.contains("cuda:N"), "{}", bad.stderr);
}

#[test]
fn bench_ab_names_what_ran_the_kernel_step() {
    let sb = Sandbox::new();
    sb.write("d.csv", DATA.as_bytes());
    assert!(sb.run(&["load", "--input", "d.csv"]).ok);
    let ab = |device: &str| {
        sb.run(&[
            "bench",
            "ab",
            "--query",
            "pair_corr",
            "--sample",
            "4",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--json",
            "--out",
            "ab",
            "--device",
            device,
        ])
    };
    let cpu = ab("cpu");
    assert!(cpu.ok, "{}", cpu.stderr);
    let v: Value = serde_json::from_str(&cpu.stdout).unwrap();
    assert_eq!(v["kernels"], "CPU (--device cpu)");
    assert_eq!(v["equal"], Value::Bool(true));
    assert!(v["rules_fired"].as_array().unwrap().iter().any(|r| r == "correlation_to_kernel"), "{v}");
    if !driver_present() {
        let cuda = ab("cuda");
        assert_eq!(cuda.code, Some(2), "{}", cuda.stderr);
        assert!(cuda.stderr.contains("--device") && cuda.stderr.contains("no CUDA driver"), "{}", cuda.stderr);
    }
}
