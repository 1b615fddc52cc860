//! docs/architecture.md opens with a tree of the code: every folder it names exists, and
//! every folder under src/, tests/, lua/ and benches/ is in it.

use std::path::Path;

fn tree() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/architecture.md")).unwrap();
    let section = doc
        .split("## Where things are")
        .nth(1)
        .expect("architecture.md has its tree");
    section
        .split("```")
        .nth(1)
        .expect("the tree is a code block")
        .to_string()
}

/// Every `name/` or `name.rs` the tree shows: words at the start of a line are
/// top-level paths, and words of an indented line belong to the last top-level folder.
fn named_paths(tree: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut parent = String::new();
    for line in tree.lines() {
        let indented = line.starts_with(' ');
        for word in line.split_whitespace() {
            let is_path = (word.ends_with('/') || word.ends_with(".rs")) && !word.contains("./");
            if !is_path {
                continue;
            }
            if indented {
                paths.push(format!("{parent}{word}"));
            } else {
                paths.push(word.to_string());
            }
        }
        if !indented {
            if let Some(first) = line.split_whitespace().next() {
                parent = first.to_string();
            }
        }
    }
    paths
}

#[test]
fn every_folder_the_tree_names_exists_and_every_source_folder_is_named() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let named = named_paths(&tree());
    assert!(named.len() > 20, "{named:?}");
    for path in &named {
        assert!(
            root.join(path.trim_end_matches('/')).exists(),
            "the tree names {path}, which does not exist"
        );
    }
    for top in ["src", "tests", "lua", "benches"] {
        for entry in std::fs::read_dir(root.join(top)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                let folder = format!("{top}/{}/", entry.file_name().to_string_lossy());
                assert!(
                    named.contains(&folder),
                    "{folder} is not in docs/architecture.md's tree"
                );
            }
        }
    }
}
