//! From records to standardized feature vectors per hospital, without test data leaking into
//! anything the models see.
//!
//! - **Split**: per hospital, stratified by label: the positives and the negatives are each
//!   shuffled with a seeded generator and `test_fraction` of each (rounded) held out.
//! - **Imputation**: a missing numeric value becomes the mean of that column over the
//!   hospital's own training split; a hospital with no training value in a column (Switzerland
//!   has no cholesterol at all) gets the mean over every hospital's training split. Each numeric
//!   column also gets a 0/1 "missing" indicator, so that a model can tell an imputed value from
//!   a measured one.
//! - **Categoricals**: one-hot over the known levels plus a "missing" level.
//! - **Standardization**: each feature's mean and standard deviation over every hospital's
//!   training rows (a constant feature keeps scale 1). These are sums each hospital can send
//!   once (the kind of statistic secure aggregation releases); test rows never enter them.
//!
//! The hospital itself is not a feature.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::csv::{CATEGORICAL, NUMERIC, Record};
use crate::federated::experiment::InstanceData;
use crate::federated::logistic::Samples;

/// Names of the encoded features, in order.
pub fn feature_names() -> Vec<String> {
    let mut names = Vec::new();
    for n in NUMERIC {
        names.push(n.to_string());
        names.push(format!("{n} missing"));
    }
    for c in &CATEGORICAL {
        names.extend(c.levels.iter().map(|l| format!("{}={l}", c.column)));
        names.push(format!("{} missing", c.column));
    }
    names
}

/// Indices of `records` held out and kept for training, stratified by label (module docs).
pub fn stratified_split(records: &[&Record], test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for label in [0u8, 1] {
        let mut class: Vec<usize> = (0..records.len()).filter(|&i| records[i].label == label).collect();
        class.shuffle(&mut rng);
        let held = (class.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&class[..held]);
        train.extend_from_slice(&class[held..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Encoded rows (before standardization) with their labels.
type Rows = Vec<(Vec<f64>, u8)>;

fn column_mean(rows: &[&Record], column: usize) -> Option<f64> {
    let values: Vec<f64> = rows.iter().filter_map(|r| r.numeric[column]).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn encode(record: &Record, means: &[f64; NUMERIC.len()]) -> Vec<f64> {
    let mut out = Vec::new();
    for (value, mean) in record.numeric.iter().zip(means) {
        out.push(value.unwrap_or(*mean));
        out.push(f64::from(u8::from(value.is_none())));
    }
    for (value, c) in record.categorical.iter().zip(&CATEGORICAL) {
        for level in 0..=c.levels.len() {
            let hot = match value {
                Some(v) => *v == level,
                None => level == c.levels.len(),
            };
            out.push(f64::from(u8::from(hot)));
        }
    }
    out
}

/// Per hospital (in order of first appearance in the file): the train and test samples.
/// Fails when a numeric column has no value in any training split, or a hospital has no
/// training rows.
pub fn build(records: &[Record], test_fraction: f64, split_seed: u64) -> Result<Vec<InstanceData<Samples>>, String> {
    let mut hospitals: Vec<&str> = Vec::new();
    for r in records {
        if !hospitals.contains(&r.hospital.as_str()) {
            hospitals.push(&r.hospital);
        }
    }
    let mut splits = Vec::new();
    for (h, name) in hospitals.iter().enumerate() {
        let rows: Vec<&Record> = records.iter().filter(|r| r.hospital == *name).collect();
        let (train, test) = stratified_split(&rows, test_fraction, split_seed.wrapping_add(h as u64));
        if train.is_empty() || test.is_empty() {
            return Err(format!("hospital {name}: {} rows, too few for a train and a test split", rows.len()));
        }
        let pick = |idx: &[usize]| idx.iter().map(|&i| rows[i]).collect::<Vec<&Record>>();
        splits.push((name.to_string(), pick(&train), pick(&test)));
    }
    let all_train: Vec<&Record> = splits.iter().flat_map(|(_, train, _)| train.iter().copied()).collect();
    let mut global = [0.0; NUMERIC.len()];
    for (c, g) in global.iter_mut().enumerate() {
        *g = column_mean(&all_train, c)
            .ok_or_else(|| format!("column {} has no value in any training split", NUMERIC[c]))?;
    }
    let encoded: Vec<(String, Rows, Rows)> = splits
        .iter()
        .map(|(name, train, test)| {
            let means: [f64; NUMERIC.len()] = std::array::from_fn(|c| column_mean(train, c).unwrap_or(global[c]));
            let enc = |rows: &[&Record]| rows.iter().map(|r| (encode(r, &means), r.label)).collect::<Rows>();
            (name.clone(), enc(train), enc(test))
        })
        .collect();
    let dim = feature_names().len();
    let train_vectors: Vec<&Vec<f64>> = encoded.iter().flat_map(|(_, train, _)| train.iter().map(|(x, _)| x)).collect();
    let count = train_vectors.len() as f64;
    let mean: Vec<f64> = (0..dim).map(|j| train_vectors.iter().map(|x| x[j]).sum::<f64>() / count).collect();
    let std: Vec<f64> = (0..dim)
        .map(|j| {
            let var = train_vectors.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / count;
            if var > 1e-12 { var.sqrt() } else { 1.0 }
        })
        .collect();
    let standardize = |rows: &[(Vec<f64>, u8)]| {
        let mut s = Samples::empty(dim);
        for (x, label) in rows {
            let z: Vec<f32> = x.iter().enumerate().map(|(j, v)| ((v - mean[j]) / std[j]) as f32).collect();
            s.push(&z, *label);
        }
        s
    };
    Ok(encoded
        .iter()
        .map(|(name, train, test)| InstanceData {
            name: name.clone(),
            train: standardize(train),
            held_out: standardize(test),
        })
        .collect())
}
