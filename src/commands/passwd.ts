export async function passwd(_file: string, _user: string): Promise<number> {
  process.stderr.write('fieldgate passwd: password files arrive with the security issue\n')
  return 2
}
