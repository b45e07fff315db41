//! Fed-Heart-Disease: the Done-when on the real CSV, and bad CSVs refused in one line.

use std::path::PathBuf;

use dfma_runtime::federated::heart::{self, HeartConfig};

use crate::synthetic::seed;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

#[test]
fn the_collective_model_beats_every_local_only_model_and_is_within_2_points_of_pooled() {
    let path = match std::env::var("DFMA_HEART_CSV") {
        Ok(p) => PathBuf::from(p),
        Err(_) if in_ci() => panic!("DFMA_HEART_CSV is required under CI=true"),
        Err(_) => {
            println!("not run: DFMA_HEART_CSV unset");
            return;
        }
    };
    let data = heart::load(&path, 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(data.rows, 920);
    assert_eq!(
        data.hospitals.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(),
        ["Cleveland", "Hungary", "Switzerland", "VA Long Beach"]
    );
    let seed = seed("fed-heart-disease") % 1000;
    println!("training seed {seed} (dfma run heart --seed {seed})");
    let report = heart::run(&data, &HeartConfig::defaults(seed)).unwrap();
    for m in [&report.local_only, &report.collective, &report.fedavg, &report.pooled]
        .into_iter()
        .chain(&report.local_only_cross)
    {
        println!("{:<26} {:?} mean {:.3}", m.method, m.per_hospital, m.mean);
    }
    let failures = report.check(2.0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(report.collective_run.rounds.iter().all(|r| r.contributors == 4 && r.rejected == 0));
}

#[test]
fn a_bad_csv_is_one_line_naming_the_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let header = "id,age,sex,dataset,cp,trestbps,chol,fbs,restecg,thalch,exang,oldpeak,slope,ca,thal,num";
    let good =
        "1,63,Male,Cleveland,typical angina,145,233,TRUE,lv hypertrophy,150,FALSE,2.3,downsloping,0,fixed defect,0";
    let cases = [
        (
            "missing-column.csv",
            format!("{}\n{good}\n", header.replace(",thal,", ",")),
            ":1: column thal: missing from the header",
        ),
        (
            "bad-value.csv",
            format!("{header}\n{good}\n{}\n", good.replace("145", "14x5")),
            ":3: column trestbps: \"14x5\" is not a number",
        ),
        (
            "truncated.csv",
            format!("{header}\n{good}\n{}", &good[..40]),
            ":3: 7 fields, the header has 16 (truncated row?)",
        ),
        (
            "one-class.csv",
            format!("{header}\n{good}\n"),
            "hospital Cleveland: 1 rows, too few for a train and a test split",
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = heart::load(&path, 0).unwrap_err();
        println!("{err}");
        assert!(err.starts_with(&path.display().to_string()) && err.ends_with(expected), "{err}");
        assert!(!err.contains('\n'));
    }
    let missing = dir.path().join("absent.csv");
    assert!(heart::load(&missing, 0).unwrap_err().contains("absent.csv: cannot read"));
}
