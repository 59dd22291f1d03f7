//! Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the `migrations`
//! directory at compile time, and a new file alone would not trigger a rebuild.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
