//! Secrets (passwords, key passphrases) in the forms the Aerospike tools take them.

use crate::Usage;
use anyhow::Context;

/// The Aerospike tools' secret forms: `env:VAR`, `env-b64:VAR`, `b64:BASE64`, `file:PATH`
/// (its first line), or the value itself; `None` for an empty value (to be asked for). Errors
/// name where the secret was looked for, never the secret.
pub fn secret(spec: &str) -> Result<Option<String>, Usage> {
    let b64 = |what: &str, v: &str| {
        base64_simd::STANDARD
            .decode_to_vec(v.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| Usage(format!("{what} is not valid base64")))
    };
    let var = |name: &str| {
        std::env::var(name).map_err(|_| Usage(format!("environment variable {name} is not set")))
    };
    let v = if let Some(name) = spec.strip_prefix("env:") {
        var(name)?
    } else if let Some(name) = spec.strip_prefix("env-b64:") {
        b64(&format!("environment variable {name}"), &var(name)?)?
    } else if let Some(v) = spec.strip_prefix("b64:") {
        b64("the b64: secret", v)?
    } else if let Some(path) = spec.strip_prefix("file:") {
        let s = std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("cannot read the secret file {path}: {e}")))?;
        s.lines().next().unwrap_or_default().to_string()
    } else {
        spec.to_string()
    };
    Ok(Some(v).filter(|v| !v.is_empty() || !spec.is_empty()))
}

/// The secret of `spec`, or asked for on the terminal with `prompt` when it is empty.
pub fn secret_or_ask(spec: &str, prompt: &str) -> anyhow::Result<String> {
    match secret(spec)? {
        Some(v) => Ok(v),
        None => ask(prompt),
    }
}

/// Asks on the terminal, without echo.
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    rpassword::prompt_password(prompt).context("cannot read the password from the terminal")
}

#[cfg(test)]
mod tests {
    use super::secret;

    #[test]
    fn secrets_in_every_form() {
        let dir = std::env::temp_dir().join(format!("secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "from-file\nignored\n").unwrap();
        std::env::set_var("AS_TEST_SECRET", "from-env");
        std::env::set_var("AS_TEST_SECRET_B64", "ZnJvbS1lbnYtYjY0");
        let ok = |s: &str| secret(s).unwrap();
        assert_eq!(ok("plain"), Some("plain".into()));
        assert_eq!(ok("env:AS_TEST_SECRET"), Some("from-env".into()));
        assert_eq!(
            ok("env-b64:AS_TEST_SECRET_B64"),
            Some("from-env-b64".into())
        );
        assert_eq!(ok("b64:c2VjcmV0"), Some("secret".into()));
        assert_eq!(
            ok(&format!("file:{}", f.display())),
            Some("from-file".into())
        );
        assert_eq!(ok(""), None, "empty: ask on the terminal");
        let err = secret("env:AS_TEST_NO_SUCH_VAR").unwrap_err().0;
        assert!(err.contains("AS_TEST_NO_SUCH_VAR is not set"), "{err}");
        assert!(secret("b64:!!!").is_err());
        assert!(secret("file:/nonexistent/pw")
            .unwrap_err()
            .0
            .contains("/nonexistent/pw"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
