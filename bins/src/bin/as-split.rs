fn main() -> std::process::ExitCode {
    as_tools::main("as-split", as_tools::split::run)
}
