import { expect } from 'chai';
import { idMapArgs, subIdRanges } from '../../src/store/userns.js';
import { layerChainIds, imageIdFromConfig } from '../../src/store/ids.js';
import { bigDataFileName } from '../../src/store/records.js';

describe('store: user namespaces, IDs and names', () => {
  it('maps a rootless user namespace from /etc/subuid like podman: the user as 0, then every range of the user from 1', () => {
    const text = '# comment\nalice:100000:65536\nbob:165536:65536\n1001:300000:10\nalice:400000:5\nbroken\n';
    expect(subIdRanges(text, 'alice', 1000)).to.deep.equal([{ start: 100000, count: 65536 }, { start: 400000, count: 5 }]);
    expect(subIdRanges(text, 'carol', 1001)).to.deep.equal([{ start: 300000, count: 10 }]);
    expect(subIdRanges(text, 'dave', 1002)).to.deep.equal([]);
    expect(idMapArgs(1000, subIdRanges(text, 'alice', 1000))).to.deep.equal(['0', '1000', '1', '1', '100000', '65536', '65537', '400000', '5']);
  });

  it('computes layer chain IDs and image IDs like containers/image (values from a skopeo-written store)', () => {
    const ids = layerChainIds([
      'sha256:64bf2bf77ec2821bb442618ae7e946ec8801c288b00d75f1a0206f3695c8c544',
      'sha256:34de57a0e3b5edc82f4f5b4263ea374492a9aa34684b556155c53c566e0bfa94',
      'sha256:d3c9859b6e5ab04879dd6a5b8acb6939766872cdf4822d2005fa90739529403e',
    ]);
    expect(ids).to.deep.equal([
      '64bf2bf77ec2821bb442618ae7e946ec8801c288b00d75f1a0206f3695c8c544',
      '53facb3bfb85843d7b1295bcd5078f59ee8930c50fbea7b34635df17f31f8fc6',
      'f0465fbee7cd26d82c602e1aa89d2e6dd1ab0ba6fe8503ac19cadc30b855cab8',
    ]);
    expect(imageIdFromConfig('sha256:e7aa99decb5a72ca42e0792d6c8fd79399a4851c94d5dcfaafcb3f8d3f9eb67a')).to.equal('e7aa99decb5a72ca42e0792d6c8fd79399a4851c94d5dcfaafcb3f8d3f9eb67a');
  });

  it('names big-data files like containers/storage', () => {
    expect(bigDataFileName('manifest')).to.equal('manifest');
    expect(bigDataFileName('manifest-sha256:6eb9e8cc0b9584fa002e38cc590e24f4d553ed1b425e85c8167e60926365cc3c')).to.equal('=bWFuaWZlc3Qtc2hhMjU2OjZlYjllOGNjMGI5NTg0ZmEwMDJlMzhjYzU5MGUyNGY0ZDU1M2VkMWI0MjVlODVjODE2N2U2MDkyNjM2NWNjM2M=');
  });
});
