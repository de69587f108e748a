fn main() -> std::process::ExitCode {
    as_cli::main("as-gen", as_tools::gen::run)
}
