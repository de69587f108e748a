fn main() -> std::process::ExitCode {
    as_tools::main("as-scan", as_tools::scan::run)
}
