//! Parser tests on files built byte by byte here, the bad ones included. (Files written by the
//! `gguf` PyPI package are read in bench/tests/gguf.rs.)

use super::*;

/// Writes GGUF bytes: `kv` as (key, type tag, encoded value), tensors as (name, dims, type, data).
fn build(version: u32, kv: &[(&str, u32, Vec<u8>)], tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    let string = |b: &mut Vec<u8>, s: &str| {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    };
    b.extend(version.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kv.len() as u64).to_le_bytes());
    for (k, tag, v) in kv {
        string(&mut b, k);
        b.extend(tag.to_le_bytes());
        b.extend(v);
    }
    let mut offset = 0u64;
    for (name, dims, ty, data) in tensors {
        string(&mut b, name);
        b.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        offset += (data.len() as u64).next_multiple_of(32);
    }
    b.resize(b.len().next_multiple_of(32), 0);
    for (_, _, _, data) in tensors {
        b.extend(data);
        b.resize(b.len().next_multiple_of(32), 0);
    }
    b
}

fn str_value(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

fn sample() -> Vec<u8> {
    let q8 = (0..2 * 34).map(|i| i as u8).collect();
    let f32s = [1.5f32, -2.0, 3.25].iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut arr = 4u32.to_le_bytes().to_vec(); // array of u32
    arr.extend(2u64.to_le_bytes());
    arr.extend(7u32.to_le_bytes());
    arr.extend(9u32.to_le_bytes());
    build(
        3,
        &[
            ("general.architecture", 8, str_value("llama")),
            ("llama.block_count", 4, 30u32.to_le_bytes().to_vec()),
            ("ids", 9, arr),
        ],
        &[("w", vec![32, 2], 8, q8), ("norm", vec![3], 0, f32s)],
    )
}

#[test]
fn a_well_formed_file_parses_with_its_metadata_and_tensors() {
    let bytes = sample();
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!(g.version, 3);
    assert_eq!(g.get("general.architecture").and_then(Value::as_str), Some("llama"));
    assert_eq!(g.get("llama.block_count").and_then(Value::as_u64), Some(30));
    assert_eq!(g.get("ids").and_then(Value::as_array).map(|a| a.len()), Some(2));
    let w = g.tensor("w").unwrap();
    assert_eq!((w.ggml_type, w.matrix_shape(), w.n_bytes), (GgmlType::Q8_0, Some((2, 32)), 68));
    assert_eq!(g.data(&bytes, w), (0..68).map(|i| i as u8).collect::<Vec<_>>());
    let norm = g.tensor("norm").unwrap();
    assert_eq!(g.data(&bytes, norm), [1.5f32, -2.0, 3.25].iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<_>>());
}

#[test]
fn every_truncation_is_an_error_and_never_a_panic() {
    let bytes = sample();
    let full = Gguf::parse(&bytes).unwrap();
    let last_tensor_end =
        (full.data_offset + full.tensors.iter().map(|t| t.offset + t.n_bytes).max().unwrap()) as usize;
    for len in 0..last_tensor_end {
        assert!(Gguf::parse(&bytes[..len]).is_err(), "a file cut at {len} bytes parsed");
    }
}

#[test]
fn a_bad_magic_is_named() {
    let mut bytes = sample();
    bytes[..4].copy_from_slice(b"GGML");
    let e = Gguf::parse(&bytes).unwrap_err();
    assert!(matches!(e, GgufError::BadMagic { .. }), "{e}");
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn versions_other_than_2_and_3_are_rejected() {
    for v in [0, 1, 4, 99] {
        let mut bytes = sample();
        bytes[4..8].copy_from_slice(&u32::to_le_bytes(v));
        assert!(matches!(Gguf::parse(&bytes), Err(GgufError::UnsupportedVersion(x)) if x == v));
    }
}

#[test]
fn a_tensor_past_the_end_of_the_file_is_out_of_range() {
    let bytes = sample();
    let g = Gguf::parse(&bytes).unwrap();
    let cut = (g.data_offset + g.tensor("norm").unwrap().offset + 4) as usize;
    let e = Gguf::parse(&bytes[..cut]).unwrap_err();
    assert!(matches!(&e, GgufError::OutOfRange { tensor, .. } if tensor == "norm"), "{e}");
}

#[test]
fn an_unknown_tensor_type_is_unsupported() {
    let bytes = build(3, &[], &[("odd", vec![32], 99, vec![0; 32])]);
    let e = Gguf::parse(&bytes).unwrap_err();
    assert!(matches!(&e, GgufError::UnsupportedType { tensor, type_id: 99 } if tensor == "odd"), "{e}");
}

#[test]
fn a_huge_count_is_rejected_before_allocating() {
    let mut bytes = sample();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let e = Gguf::parse(&bytes).unwrap_err();
    assert!(e.to_string().contains("tensor count"), "{e}");
    let mut bytes = sample();
    bytes[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("metadata count"));
}

#[test]
fn a_row_that_is_not_whole_blocks_is_invalid() {
    let bytes = build(3, &[], &[("w", vec![33, 2], 8, vec![0; 34 * 2])]);
    let e = Gguf::parse(&bytes).unwrap_err();
    assert!(e.to_string().contains("not a multiple of Q8_0's block of 32"), "{e}");
}

#[test]
fn duplicate_tensor_names_are_invalid() {
    let bytes = build(3, &[], &[("w", vec![4], 0, vec![0; 16]), ("w", vec![4], 0, vec![0; 16])]);
    assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("appears twice"));
}

#[test]
fn a_non_power_of_two_alignment_is_invalid() {
    let bytes = build(3, &[("general.alignment", 4, 24u32.to_le_bytes().to_vec())], &[]);
    assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("general.alignment"));
}

#[test]
fn an_unknown_value_type_is_invalid() {
    let bytes = build(3, &[("k", 13, vec![0; 8])], &[]);
    assert!(Gguf::parse(&bytes).unwrap_err().to_string().contains("unknown value type 13"));
}
