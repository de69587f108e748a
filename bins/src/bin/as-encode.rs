fn main() -> std::process::ExitCode {
    as_tools::main("as-encode", as_tools::encode::run)
}
